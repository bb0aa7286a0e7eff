package hello.ci

/**
 * The deployment targets the pipeline knows. One place for the overlay path, the
 * credential holding the kubeconfig, and where the workload lives (DESIGN.md:
 * Deployment `hello` in namespace `hello`).
 */
class Environments implements Serializable {

    private static final long serialVersionUID = 1L

    /** The kustomize base every overlay builds on: its Deployment names the image. */
    static final String BASE = 'k8s/base'
    /** The workload's Deployment (and namespace), the same in every environment. */
    static final String DEPLOYMENT = 'hello'

    private static final Map<String, Map<String, String>> TARGETS = [
        dev : [overlay: 'k8s/overlays/dev', kubeconfigCredentialsId: 'kubeconfig-hello-dev',
               namespace: 'hello', deployment: 'hello'],
        prod: [overlay: 'k8s/overlays/prod', kubeconfigCredentialsId: 'kubeconfig-hello-prod',
               namespace: 'hello', deployment: 'hello'],
    ].asImmutable()

    static List<String> names() {
        TARGETS.keySet() as List
    }

    static boolean isKnown(String name) {
        name != null && TARGETS.containsKey(name)
    }

    /** The target's settings; throws with the list of known names for anything else. */
    static Map<String, String> lookup(String name) {
        if (!isKnown(name)) {
            throw new IllegalArgumentException("unknown environment '${name}' (known: ${names().join(', ')})")
        }
        TARGETS[name]
    }
}
