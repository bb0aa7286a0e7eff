package jenkinslib.test

/**
 * A small, strict stand-in for Declarative Pipeline: runs a Jenkinsfile's stages
 * in order with the real library steps (through PipelineHarness), evaluates
 * directives when the stage runs (as Jenkins does), honours `when` (with
 * beforeOptions/beforeInput/beforeAgent), `input`, stage and pipeline
 * `environment`, kubernetes agents (containers must exist in the pod YAML),
 * skips later stages after a failure and runs `post` by build result.
 * Anything it does not model fails loudly instead of being ignored.
 */
class DeclarativeStub {

    public static final List<String> POST_ORDER = ['always', 'changed', 'fixed', 'regression', 'aborted', 'failure',
                                            'success', 'unstable', 'unsuccessful', 'cleanup']

    final PipelineHarness h
    /** [name, status (SUCCESS, FAILED, ABORTED, SKIPPED_WHEN, SKIPPED_FAILURE), error]. */
    final List<Map> stageLog = []
    final List<String> postRan = []
    Map pipeline
    String result = 'SUCCESS'
    String previousResult
    private Script jenkinsfile

    DeclarativeStub(PipelineHarness harness) {
        h = harness
        h.binding.setVariable('pipeline') { Closure body -> pipeline = Builders.pipeline(body) }
    }

    void load(File file) {
        jenkinsfile = h.shell.parse(file.text, 'Jenkinsfile')
        jenkinsfile.run()
        assert pipeline != null: 'the Jenkinsfile did not call pipeline { }'
    }

    String run() {
        h.requireNode = true
        h.currentBuild.previousBuild = previousResult ? new BuildStub(result: previousResult) : null
        Map<String, Object> pipelineEnv = pipeline.environment ? Builders.environment(pipeline.environment) : [:]
        pipelineEnv.each { k, v -> h.env.setProperty(k, v) }
        h.calls << [step: 'options', args: pipeline.options ? Builders.options(pipeline.options) : []]
        try {
            withAgent(pipeline.agent ? Builders.agent(pipeline.agent) : null) {
                runStages(pipeline.stages)
            }
        } catch (StepFailure e) {
            // e.g. an agent pod or container that cannot exist
            result = 'FAILURE'
            stageLog << [name: '(agent)', status: 'FAILED', error: e.message]
        }
        runPost(pipeline.post ? Builders.post(pipeline.post) : [:])
        h.currentBuild.result = result
        result
    }

    List<String> stagesWith(String status) {
        stageLog.findAll { it.status == status }*.name
    }

    Map stage(String name) {
        stageLog.find { it.name == name }
    }

    // ---- stages ---------------------------------------------------------------

    private void runStages(List<Map> stages) {
        for (Map s in stages) {
            runStage(s)
        }
    }

    private void skipAll(Map s, String status) {
        stageLog << [name: s.name, status: status]
        (s.stages ?: []).each { skipAll(it as Map, status) }
    }

    private void runStage(Map s) {
        if (result != 'SUCCESS') {
            skipAll(s, 'SKIPPED_FAILURE')
            return
        }
        Map when = s.when ? Builders.when(s.when) : null
        boolean decided = false
        Closure<Boolean> passes = { ->
            decided = true
            evalWhen(when)
        }
        Map<String, String> saved = null
        int logIndex = stageLog.size()
        stageLog << [name: s.name, status: 'RUNNING']
        try {
            if (when?.beforeOptions && !passes()) {
                stageLog[logIndex].status = 'SKIPPED_WHEN'
                return
            }
            if (s.options) {
                h.calls << [step: 'stageOptions', stage: s.name, args: Builders.options(s.options)]
            }
            if (when?.beforeInput && !decided && !passes()) {
                skipNested(s, logIndex)
                return
            }
            if (s.input) {
                h.call('input', Builders.input(s.input))
            }
            if (when?.beforeAgent && !decided && !passes()) {
                skipNested(s, logIndex)
                return
            }
            withAgent(s.agent ? Builders.agent(s.agent) : null) {
                if (when && !decided && !passes()) {
                    skipNested(s, logIndex)
                    return
                }
                if (s.environment) {
                    saved = h.env.snapshot()
                    Builders.environment(s.environment).each { k, v -> h.env.setProperty(k, v) }
                }
                if (s.steps) {
                    onScript(s.steps).call()
                } else {
                    runStages(s.stages)
                }
                stageLog[logIndex].status = [SUCCESS: 'SUCCESS', ABORTED: 'ABORTED'][result] ?: 'FAILED'
            }
        } catch (BuildAborted e) {
            result = 'ABORTED'
            stageLog[logIndex] += [status: 'ABORTED', error: e.message]
        } catch (StepFailure e) {
            result = 'FAILURE'
            stageLog[logIndex] += [status: 'FAILED', error: e.message]
        } finally {
            if (saved != null) {
                // Stage environment is scoped to the stage; env.X = ... in steps is not.
                Builders.environment(s.environment).keySet().each { k -> h.env.setProperty(k, saved[k]) }
            }
        }
    }

    private void skipNested(Map s, int logIndex) {
        stageLog[logIndex].status = 'SKIPPED_WHEN'
        (s.stages ?: []).each { skipAll(it as Map, 'SKIPPED_WHEN') }
    }

    private boolean evalWhen(Map when) {
        when.conditions.every { Closure c -> onScript(c).call() as boolean }
    }

    /** A Jenkinsfile closure re-bound so its step calls go to the script (and so the harness). */
    private Closure onScript(Closure c) {
        Closure bound = c.rehydrate(jenkinsfile, jenkinsfile, jenkinsfile)
        bound.resolveStrategy = Closure.OWNER_FIRST
        bound
    }

    private void withAgent(Map agent, Closure body) {
        if (agent == null) {
            body.call()
            return
        }
        if (agent.type == 'none') {
            int depth = h.nodeDepth
            h.nodeDepth = 0
            try {
                body.call()
            } finally {
                h.nodeDepth = depth
            }
            return
        }
        assert agent.type == 'kubernetes': "stub supports agent none and kubernetes, not ${agent}"
        List<String> containers = PodYaml.containerNames(agent.yaml as String) + ['jnlp']
        if (agent.defaultContainer && !(agent.defaultContainer in containers)) {
            throw new StepFailure("defaultContainer '${agent.defaultContainer}' is not in the pod (${containers})")
        }
        h.calls << [step: 'podTemplate', args: [agent]]
        List<String> savedPod = h.podContainers
        h.podContainers = containers
        h.nodeDepth++
        try {
            if (agent.defaultContainer) {
                h.call('container', agent.defaultContainer, body)
            } else {
                body.call()
            }
        } finally {
            h.nodeDepth--
            h.podContainers = savedPod
        }
    }

    // ---- post -----------------------------------------------------------------

    private boolean postApplies(String condition) {
        String prev = previousResult
        switch (condition) {
            case 'always': return true
            case 'cleanup': return true
            case 'changed': return prev != null && prev != result
            case 'fixed': return result == 'SUCCESS' && prev in ['FAILURE', 'UNSTABLE']
            case 'regression': return prev == 'SUCCESS' && result in ['FAILURE', 'UNSTABLE', 'ABORTED']
            case 'aborted': return result == 'ABORTED'
            case 'failure': return result == 'FAILURE'
            case 'success': return result == 'SUCCESS'
            case 'unstable': return result == 'UNSTABLE'
            case 'unsuccessful': return result != 'SUCCESS'
            default: throw new IllegalArgumentException("unknown post condition ${condition}")
        }
    }

    private void runPost(Map<String, Closure> post) {
        h.currentBuild.currentResult = result
        h.currentBuild.result = result == 'SUCCESS' ? null : result
        // Conditions are decided on the result before post runs, as Jenkins does.
        List<String> applicable = POST_ORDER.findAll { post.containsKey(it) && postApplies(it) }
        for (String condition in applicable) {
            postRan << condition
            try {
                onScript(post[condition]).call()
            } catch (StepFailure e) {
                result = 'FAILURE'
                stageLog << [name: "post/${condition}", status: 'FAILED', error: e.message]
            }
        }
    }
}
