package jenkinslib.test

import org.junit.After
import org.junit.Before

/** A fresh harness per test; after each test, no secret value may appear in any step call. */
abstract class LibTestCase {

    /** The image name of the repository's real base Deployment, rendered by the real kubectl. */
    public static final String REPO = PipelineHarness.repositoryImageName()
    public static final String IMAGE = "${REPO}@${PipelineHarness.DIGEST}"

    PipelineHarness h

    @Before
    void newHarness() {
        h = new PipelineHarness()
    }

    @After
    void noSecretLeak() {
        h.assertNoSecretLeak()
    }

    /** Runs the block, expects a step failure (error or failing sh), returns its message. */
    static String failureOf(Closure block) {
        try {
            block.call()
        } catch (StepFailure e) {
            return e.message
        }
        throw new AssertionError('expected the step to fail')
    }
}
