import hello.ci.BuildInfo

/**
 * Checks out the revision this build is for and exports env.GIT_COMMIT, env.GIT_URL
 * and env.GIT_COMMIT_DATE (the commit time, UTC, RFC 3339: the image's build date,
 * so the same commit gives the same labels and /version). Returns the SCM variables.
 */
def call(Map args = [:]) {
    def scmVars
    // The agent container (uid 1000, has git) owns the checkout, so the
    // non-root tool containers can write in the workspace (build/).
    String date
    container(args.container ?: 'jnlp') {
        scmVars = checkout(args.scm ?: scm)
        date = sh(label: 'commit date', returnStdout: true,
                  script: 'TZ=UTC0 git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd').trim()
    }
    String commit = scmVars?.GIT_COMMIT
    if (!BuildInfo.isCommit(commit)) {
        error("checkoutSource: checkout gave no full commit id (got '${commit}')")
    }
    env.GIT_COMMIT = commit
    env.GIT_URL = scmVars.GIT_URL
    if (!(date ==~ /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/)) {
        error("checkoutSource: no commit date for ${commit} (got '${date}')")
    }
    env.GIT_COMMIT_DATE = date
    echo "checkoutSource: ${commit} (branch ${env.BRANCH_NAME ?: '-'}, tag ${env.TAG_NAME ?: '-'})"
    scmVars
}
