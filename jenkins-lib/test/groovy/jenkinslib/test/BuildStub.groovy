package jenkinslib.test

/** `currentBuild` (RunWrapper): the fields the pipeline reads. */
class BuildStub {
    String result
    String currentResult = 'SUCCESS'
    BuildStub previousBuild
    int number = 42
    String absoluteUrl = 'https://jenkins.example.com/job/hello/job/main/42/'
}
