package hello.ci

/**
 * An OCI image reference, REPOSITORY[:TAG][@sha256:DIGEST]. Deployments use the
 * digest form only: a tag can be moved, a digest cannot.
 */
class ImageRef implements Serializable {

    private static final long serialVersionUID = 1L

    private static final String DIGEST = /sha256:[0-9a-f]{64}/
    private static final String TAG = /[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}/
    // host[:port] then lower-case path components separated by /.
    private static final String REPOSITORY =
        /[a-z0-9]+([._-][a-z0-9]+)*(\.[a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*/

    final String repository
    final String tag
    final String digest

    ImageRef(String repository, String tag, String digest) {
        this.repository = repository
        this.tag = tag
        this.digest = digest
    }

    static boolean isDigest(String value) {
        value != null && value ==~ DIGEST
    }

    static boolean isValidTag(String value) {
        value != null && value ==~ TAG
    }

    static boolean isValidRepository(String value) {
        value != null && value ==~ REPOSITORY
    }

    static ImageRef parse(String ref) {
        if (!ref) {
            throw new IllegalArgumentException('empty image reference')
        }
        String rest = ref
        String digest = null
        int at = rest.indexOf('@')
        if (at >= 0) {
            digest = rest.substring(at + 1)
            rest = rest.substring(0, at)
            if (!isDigest(digest)) {
                throw new IllegalArgumentException("bad digest in '${ref}' (want sha256:<64 hex>)")
            }
        }
        String tag = null
        int colon = rest.lastIndexOf(':')
        // A colon before the last slash is a registry port, not a tag.
        if (colon > rest.lastIndexOf('/')) {
            tag = rest.substring(colon + 1)
            rest = rest.substring(0, colon)
            if (!isValidTag(tag)) {
                throw new IllegalArgumentException("bad tag in '${ref}'")
            }
        }
        if (!isValidRepository(rest)) {
            throw new IllegalArgumentException("bad repository in '${ref}'")
        }
        new ImageRef(rest, tag, digest)
    }

    boolean isPinned() {
        digest != null
    }

    /** The registry host a login is for (Docker Hub when the first component is no host). */
    String getRegistry() {
        int slash = repository.indexOf('/')
        String first = slash < 0 ? '' : repository.substring(0, slash)
        (first.contains('.') || first.contains(':') || first == 'localhost') ? first : 'docker.io'
    }

    ImageRef withDigest(String newDigest) {
        if (!isDigest(newDigest)) {
            throw new IllegalArgumentException("bad digest '${newDigest}' (want sha256:<64 hex>)")
        }
        new ImageRef(repository, tag, newDigest)
    }

    /** REPOSITORY@DIGEST: what manifests, scans and signatures refer to. */
    String byDigest() {
        if (!pinned) {
            throw new IllegalStateException("${this} has no digest")
        }
        "${repository}@${digest}"
    }

    @Override
    String toString() {
        repository + (tag ? ":${tag}" : '') + (digest ? "@${digest}" : '')
    }
}
