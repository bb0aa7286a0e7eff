import hello.ci.Shell

/**
 * Waits for a Deployment rollout; on timeout or failure prints what the
 * operator needs (deployment events, pods) and fails with a clear message.
 * Needs KUBECONFIG in the environment (see deployKustomize).
 */
def call(Map args = [:]) {
    String namespace = args.namespace
    String deployment = args.deployment
    String timeout = args.timeout ?: '5m'
    if (!namespace || !deployment) {
        error('rolloutStatus: namespace and deployment are required')
    }
    if (!(timeout ==~ /[0-9]+[smh]/)) {
        error("rolloutStatus: bad timeout '${timeout}' (e.g. 300s, 5m)")
    }
    String ns = Shell.quote(namespace)
    String deploy = Shell.quote("deployment/${deployment}")
    int rc = sh(label: "rollout ${deployment}", returnStatus: true,
                script: "kubectl --namespace ${ns} rollout status ${deploy} --timeout=${timeout}")
    if (rc != 0) {
        sh(label: 'diagnostics', returnStatus: true,
           script: "kubectl --namespace ${ns} describe ${deploy}; " +
                   "kubectl --namespace ${ns} get pods --selector app.kubernetes.io/name=${Shell.quote(deployment)} -o wide")
        error("rolloutStatus: ${deploy} in namespace ${namespace} did not complete within ${timeout}")
    }
}
