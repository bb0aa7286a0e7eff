import hello.ci.Environments
import hello.ci.ImageRef

/**
 * Deploys the image digest to an environment: pin the digest on top of the overlay,
 * server-side dry run, `kubectl apply -k`, wait for the rollout, smoke-test /readyz
 * (admin port) and / (public port).
 * The kubeconfig credential is per environment (least privilege: dev's cannot touch prod).
 */
def call(Map args = [:]) {
    String environment = args.environment
    if (!Environments.isKnown(environment)) {
        error("deployKustomize: unknown environment '${environment}' (known: ${Environments.names().join(', ')})")
    }
    String image = args.image
    ImageRef ref = null
    try {
        ref = image ? ImageRef.parse(image) : null
    } catch (IllegalArgumentException e) {
        error("deployKustomize: ${e.message}")
    }
    if (ref == null || !ref.pinned) {
        error("deployKustomize: need an image pinned by digest (got '${image}')")
    }
    Map target = Environments.lookup(environment)
    container(args.container ?: 'kubectl') {
        String pinned = pinImage(overlay: target.overlay, name: args.name ?: workloadImage(), image: image)
        withCredentials([file(credentialsId: target.kubeconfigCredentialsId, variable: 'KUBECONFIG')]) {
            sh(label: "dry-run ${environment}", script: "kubectl apply --dry-run=server -k ${pinned}")
            sh(label: "apply ${environment}", script: "kubectl apply -k ${pinned}")
            rolloutStatus(namespace: target.namespace, deployment: target.deployment, timeout: args.timeout ?: '5m')
            // Readiness lives on the admin port; the greeting on the public one.
            smokeTest(namespace: target.namespace, deployment: target.deployment, port: 'admin', path: '/readyz')
            smokeTest(namespace: target.namespace, deployment: target.deployment, port: 'http', path: '/')
        }
    }
    echo "deployKustomize: ${environment} runs ${image}"
}
