package jenkinslib.test

/** What a failing step throws in Jenkins (hudson.AbortException for `error` and `sh`). */
class StepFailure extends RuntimeException {
    StepFailure(String message) {
        super(message)
    }
}
