import hello.ci.BuildInfo

/** True on the main branch and on vMAJOR.MINOR.PATCH tags: the builds that deploy. */
boolean call() {
    BuildInfo.isRelease(env.BRANCH_NAME, env.TAG_NAME)
}
