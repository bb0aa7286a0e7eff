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
        assert h.env.GIT_COMMIT_DATE == PipelineHarness.COMMIT_DATE
        assert h.shCall('git log -1').container == 'jnlp'
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
    void commitWithoutADateFails() {
        h.onSh('git log -1', 0, 'fatal: bad object\n')
        assert failureOf { h.call('checkoutSource') } ==
            "checkoutSource: no commit date for ${PipelineHarness.COMMIT} (got 'fatal: bad object')"
    }

    @Test
    void runTestsInstallsToolsRunsEachSuiteWithCiAndPrintsWhyOthersAreSkipped() {
        h.onSh('test', 0, '') { m -> assert h.env.CI == 'true' }
        h.call('runTests', [suites: ['scripts/test-rust.sh', 'fluentd/test.sh'], skipped: ['k8s/test.sh': 'needs podman']])
        assert h.shScripts() == ['./scripts/install-tools.sh', './scripts/test-rust.sh', './fluentd/test.sh']
        assert h.callsOf('sh')*.args*.getAt(0)*.label == ['install tools', 'scripts/test-rust.sh', 'fluentd/test.sh']
        assert h.callsOf('echo')*.args*.getAt(0)*.toString() == ['runTests: skipping k8s/test.sh: needs podman']
        assert h.env.CI == null
    }

    @Test
    void failingSuitesFailTheStepAndSkipsNeedAReason() {
        h.onSh('fluentd', 1)
        assert failureOf { h.call('runTests', [suites: ['scripts/test-rust.sh', 'fluentd/test.sh', 'k8s/test.sh']]) } ==
            'script returned exit code 1'
        assert !h.shScripts().contains('./k8s/test.sh')
        assert failureOf { h.call('runTests', [:]) }.startsWith('runTests: no suites')
        assert failureOf { h.call('runTests', [suites: ['a.sh'], skipped: ['b.sh': '']]) } ==
            'runTests: skipped suite b.sh needs a reason'
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
