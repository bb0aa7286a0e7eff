package jenkinslib.test

import org.junit.Test

/** checkoutSource, runTests, isReleaseBuild. */
class SourceAndTestStepsTest extends LibTestCase {

    @Test
    void checkoutRunsInTheAgentContainerAndExportsTheCommit() {
        Map vars = h.call('checkoutSource') as Map
        assert vars.GIT_COMMIT == PipelineHarness.COMMIT
        assert h.env.GIT_COMMIT == PipelineHarness.COMMIT
        assert h.env.GIT_URL == 'https://git.example.com/hello.git'
        Map checkout = h.callsOf('checkout')[0]
        assert checkout.container == 'jnlp'
        assert checkout.args == [[type: 'stub-scm']]
    }

    @Test
    void checkoutWithoutACommitIdFails() {
        h.binding.setVariable('checkout') { Object[] a -> [GIT_COMMIT: null] }
        assert failureOf { h.call('checkoutSource') } == "checkoutSource: checkout gave no full commit id (got 'null')"
    }

    @Test
    void runTestsRunsTheReadmeCommandWithCi() {
        h.onSh('test-all', 0, '') { m -> assert h.env.CI == 'true' }
        h.call('runTests')
        assert h.shScripts() == ['./scripts/test-all.sh']
        assert h.env.CI == null
    }

    @Test
    void failingTestsFailTheStep() {
        h.onSh('test-all', 1)
        assert failureOf { h.call('runTests') } == 'script returned exit code 1'
    }

    @Test
    void releaseBuildsAreMainOrAReleaseTag() {
        h.env.BRANCH_NAME = 'main'
        assert h.call('isReleaseBuild') == true
        h.env.BRANCH_NAME = 'feature/x'
        assert h.call('isReleaseBuild') == false
        h.env.BRANCH_NAME = 'v1.0.0'
        h.env.TAG_NAME = 'v1.0.0'
        assert h.call('isReleaseBuild') == true
        h.env.BRANCH_NAME = 'nightly'
        h.env.TAG_NAME = 'nightly'
        assert h.call('isReleaseBuild') == false
    }
}
