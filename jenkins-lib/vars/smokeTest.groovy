import hello.ci.Shell

/**
 * Requests a path (default /readyz) on the Deployment through
 * `kubectl port-forward`, which reaches the pod without opening the
 * NetworkPolicy to the CI namespace. The script lives in resources/.
 */
def call(Map args = [:]) {
    String namespace = args.namespace
    String deployment = args.deployment
    String path = args.path ?: '/readyz'
    String attempts = (args.attempts ?: 30) as String
    if (!namespace || !deployment) {
        error('smokeTest: namespace and deployment are required')
    }
    if (!path.startsWith('/')) {
        error("smokeTest: path must start with / (got '${path}')")
    }
    String script = '.ci-smoke-http.sh'
    writeFile(file: script, text: libraryResource('hello/ci/smoke-http.sh'))
    sh(label: "smoke ${path}", script: "sh ${script} ${Shell.quote(namespace)} ${Shell.quote(deployment)} " +
       "${Shell.quote(path)} ${Shell.quote(attempts)}")
}
