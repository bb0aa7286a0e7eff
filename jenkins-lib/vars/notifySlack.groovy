/**
 * Posts the build outcome to Slack (Slack plugin; token from its global
 * configuration). One colour and wording per status, a link to the build.
 */
def call(Map args = [:]) {
    Map<String, Map<String, String>> styles = [
        FAILURE : [color: 'danger', text: 'failed'],
        UNSTABLE: [color: 'warning', text: 'is unstable'],
        ABORTED : [color: '#808080', text: 'was aborted'],
        FIXED   : [color: 'good', text: 'is back to normal'],
        SUCCESS : [color: 'good', text: 'succeeded'],
    ]
    String status = args.status
    if (!styles.containsKey(status)) {
        error("notifySlack: unknown status '${status}' (known: ${styles.keySet().join(', ')})")
    }
    Map<String, String> style = styles[status]
    String message = "${env.JOB_NAME} #${env.BUILD_NUMBER} ${style.text}"
    if (args.detail) {
        message += ": ${args.detail}"
    }
    message += " (<${env.BUILD_URL}|open>)"
    slackSend(channel: args.channel ?: '#hello-ci', color: style.color, message: message)
}
