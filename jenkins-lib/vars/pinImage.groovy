import hello.ci.ImageRef
import hello.ci.Manifests

/**
 * Pins an image digest on top of a kustomize overlay: writes the layer
 * build/pinned/<env>/kustomization.yaml (the overlay as its resource, `images:`
 * with the digest) and returns its directory, which is what gets rendered and
 * applied. The checked-out overlays stay untouched, and only kubectl is needed.
 * The image name defaults to the one the base Deployment uses (workloadImage).
 */
String call(Map args = [:]) {
    String overlay = args.overlay
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
    String name = args.name ?: workloadImage()
    String pinned
    String text
    try {
        pinned = Manifests.pinnedDir(overlay)
        text = Manifests.pinnedKustomization(overlay, name, ref)
    } catch (IllegalArgumentException e) {
        error("pinImage: ${e.message}")
    }
    writeFile(file: "${pinned}/kustomization.yaml", text: text)
    echo "pinImage: ${pinned} = ${overlay} with ${name} -> ${ref.byDigest()}"
    pinned
}
