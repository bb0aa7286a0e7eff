package jenkinslib.test

import org.junit.Test

class NotifySlackTest extends LibTestCase {

    private Map sent(Map args) {
        h.call('notifySlack', args)
        List<Map> calls = h.callsOf('slackSend')
        assert calls.size() == 1
        calls[0].args[0] as Map
    }

    @Test
    void failureIsRedWithALinkToTheBuild() {
        assert sent(status: 'FAILURE') == [channel: '#hello-ci', color: 'danger',
            message: 'hello/main #42 failed (<https://jenkins.example.com/job/hello/job/main/42/|open>)']
    }

    @Test
    void fixedIsGreen() {
        Map m = sent(status: 'FIXED', channel: '#ops')
        assert m.color == 'good' && m.channel == '#ops'
        assert m.message.startsWith('hello/main #42 is back to normal (')
    }

    @Test
    void releaseSuccessCarriesTheDetail() {
        Map m = sent(status: 'SUCCESS', detail: "released ${IMAGE}")
        assert m.color == 'good'
        assert m.message == "hello/main #42 succeeded: released ${IMAGE} (<https://jenkins.example.com/job/hello/job/main/42/|open>)"
    }

    @Test
    void unstableAndAbortedHaveTheirColours() {
        assert sent(status: 'UNSTABLE').color == 'warning'
        h.calls.clear()
        assert sent(status: 'ABORTED').color == '#808080'
    }

    @Test
    void unknownStatusIsAnError() {
        assert failureOf { h.call('notifySlack', [status: 'GREAT']) } ==
            "notifySlack: unknown status 'GREAT' (known: FAILURE, UNSTABLE, ABORTED, FIXED, SUCCESS)"
        assert failureOf { h.call('notifySlack', [:]) }.startsWith("notifySlack: unknown status 'null'")
        assert h.callsOf('slackSend').isEmpty()
    }
}
