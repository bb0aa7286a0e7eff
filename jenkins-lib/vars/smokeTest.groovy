import hello.ci.Shell

/**
 * Requests a path on a named container port of the Deployment (default /readyz on
 * `admin`) through `kubectl port-forward`, which reaches the pod without opening
 * the NetworkPolicy to the CI namespace. The script lives in resources/.
 */
def call(Map args = [:]) {
    String namespace = args.namespace
    String deployment = args.deployment
    String port = args.port ?: 'admin'
    String path = args.path ?: '/readyz'
    String attempts = (args.attempts ?: 30) as String
    if (!namespace || !deployment) {
        error('smokeTest: namespace and deployment are required')
    }
    if (!(port ==~ /[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?|[0-9]{1,5}/)) {
        error("smokeTest: port must be a container port name or number (got '${port}')")
    }
    if (!path.startsWith('/')) {
        error("smokeTest: path must start with / (got '${path}')")
    }
    String script = '.ci-smoke-http.sh'
    writeFile(file: script, text: libraryResource('hello/ci/smoke-http.sh'))
    sh(label: "smoke ${port}${path}", script: "sh ${script} ${Shell.quote(namespace)} ${Shell.quote(deployment)} " +
       "${Shell.quote(port)} ${Shell.quote(path)} ${Shell.quote(attempts)}")
}
