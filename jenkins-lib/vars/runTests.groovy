/**
 * Runs the README's test command (the same one developers and .ci/run use),
 * with CI=true so suites behave as in CI.
 */
def call(Map args = [:]) {
    String command = args.command ?: './scripts/test-all.sh'
    withEnv(['CI=true']) {
        sh(label: 'README test command', script: command)
    }
}
