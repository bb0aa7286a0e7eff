import hello.ci.ImageRef
import hello.ci.Shell

/**
 * Points a kustomize overlay at an image digest (`kustomize edit set image`),
 * so what is rendered and applied is exactly what was scanned and signed.
 */
def call(Map args = [:]) {
    String overlay = args.overlay
    String name = args.name ?: 'hello'
    String image = args.image
    if (!overlay) {
        error('pinImage: missing overlay directory')
    }
    ImageRef ref = null
    try {
        ref = image ? ImageRef.parse(image) : null
    } catch (IllegalArgumentException e) {
        error("pinImage: ${e.message}")
    }
    if (ref == null || !ref.pinned) {
        error("pinImage: need an image pinned by digest (got '${image}')")
    }
    dir(overlay) {
        sh(label: "pin ${name} in ${overlay}",
           script: "kustomize edit set image ${Shell.quote(name + '=' + ref.byDigest())}")
    }
}
