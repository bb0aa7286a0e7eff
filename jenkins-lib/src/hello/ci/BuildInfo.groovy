package hello.ci

/**
 * What a build is: which commit, whether it is a release (main or a vX.Y.Z tag),
 * and the image tag it produces. Pure functions, so they are unit-tested and CPS-safe.
 */
class BuildInfo implements Serializable {

    private static final long serialVersionUID = 1L

    static final String MAIN_BRANCH = 'main'

    // Semantic version with a leading v, optional pre-release: v1.2.3, v1.2.3-rc.1.
    private static final String RELEASE_TAG = /v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z][0-9A-Za-z.-]*)?/

    static boolean isCommit(String value) {
        value != null && value ==~ /[0-9a-f]{40}/
    }

    /** The image tag is the full commit id: unique, and it leads back to the source. */
    static String imageTag(String commit) {
        if (!isCommit(commit)) {
            throw new IllegalArgumentException("not a full 40-character commit id: '${commit}'")
        }
        commit
    }

    static boolean isReleaseTag(String tag) {
        tag != null && tag ==~ RELEASE_TAG
    }

    /**
     * Release builds deploy and may be promoted: the main branch, or a release tag.
     * Multibranch sets TAG_NAME only for tag builds; any other tag is not a release.
     */
    static boolean isRelease(String branchName, String tagName) {
        tagName ? isReleaseTag(tagName) : branchName == MAIN_BRANCH
    }

    /** [major, minor, patch, preRelease] of a release tag; preRelease is null when absent. */
    static List parseReleaseTag(String tag) {
        if (!isReleaseTag(tag)) {
            throw new IllegalArgumentException("not a release tag (vMAJOR.MINOR.PATCH[-PRE]): '${tag}'")
        }
        String core = tag.substring(1)
        String pre = null
        int dash = core.indexOf('-')
        if (dash >= 0) {
            pre = core.substring(dash + 1)
            core = core.substring(0, dash)
        }
        List<String> parts = core.tokenize('.')
        [parts[0] as Integer, parts[1] as Integer, parts[2] as Integer, pre]
    }
}
