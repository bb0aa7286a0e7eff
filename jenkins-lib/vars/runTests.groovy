/**
 * Runs the test suites that need no container engine, each on its own so the log
 * shows which one failed, after the project's tool installer; prints, for every
 * suite left to other machines, why. `suites` and `skipped` come from the
 * Jenkinsfile; the library's tests check that together they are exactly the
 * suites of scripts/test-all.sh.
 */
def call(Map args = [:]) {
    List<String> suites = args.suites ?: []
    Map<String, String> skipped = args.skipped ?: [:]
    if (!suites) {
        error('runTests: no suites (pass suites: [...], the scripts of scripts/test-all.sh to run here)')
    }
    for (def e in skipped.entrySet()) {
        if (!e.value) {
            error("runTests: skipped suite ${e.key} needs a reason")
        }
        echo "runTests: skipping ${e.key}: ${e.value}"
    }
    withEnv(['CI=true']) {
        sh(label: 'install tools', script: args.installer ?: './scripts/install-tools.sh')
        for (String suite in suites) {
            sh(label: suite, script: "./${suite}")
        }
    }
}
