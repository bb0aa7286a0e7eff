package jenkinslib.test

/** What Jenkins throws when an `input` is rejected (FlowInterruptedException). */
class BuildAborted extends RuntimeException {
    BuildAborted(String message) {
        super(message)
    }
}
