import hello.ci.BuildInfo

/**
 * Checks out the revision this build is for and exports env.GIT_COMMIT and env.GIT_URL.
 * Returns the SCM variables from `checkout`.
 */
def call(Map args = [:]) {
    def scmVars
    // The agent container (uid 1000, has git) owns the checkout, so the
    // non-root tool containers can write in the workspace (kustomize edit).
    container(args.container ?: 'jnlp') {
        scmVars = checkout(args.scm ?: scm)
    }
    String commit = scmVars?.GIT_COMMIT
    if (!BuildInfo.isCommit(commit)) {
        error("checkoutSource: checkout gave no full commit id (got '${commit}')")
    }
    env.GIT_COMMIT = commit
    env.GIT_URL = scmVars.GIT_URL
    echo "checkoutSource: ${commit} (branch ${env.BRANCH_NAME ?: '-'}, tag ${env.TAG_NAME ?: '-'})"
    scmVars
}
