package jenkinslib.test

/**
 * Parses the declarative sections the Jenkinsfile uses into maps. Sections are
 * kept as closures and parsed when their stage runs (as Jenkins evaluates
 * directive values at run time). Unknown directives throw.
 */
class Builders {

    static Map pipeline(Closure body) {
        PipelineSection p = new PipelineSection()
        delegateTo(body, p)
        p.spec
    }

    static Object delegateTo(Closure c, Object delegate) {
        Closure copy = c.rehydrate(delegate, c.owner, c.thisObject)
        copy.resolveStrategy = Closure.DELEGATE_FIRST
        copy.call()
    }

    static Map agent(Object spec) {
        if (spec == 'none') {
            return [type: 'none']
        }
        AgentSection a = new AgentSection()
        delegateTo(spec as Closure, a)
        a.spec
    }

    static List<Map> options(Closure body) {
        OptionsSection o = new OptionsSection()
        delegateTo(body, o)
        o.options
    }

    static Map<String, Object> environment(Closure body) {
        EnvironmentSection e = new EnvironmentSection()
        delegateTo(body, e)
        e.values
    }

    static Map when(Closure body) {
        WhenSection w = new WhenSection()
        delegateTo(body, w)
        [beforeAgent: w.beforeAgent, beforeInput: w.beforeInput, beforeOptions: w.beforeOptions,
         conditions: w.conditions]
    }

    static Map input(Closure body) {
        InputSection i = new InputSection()
        delegateTo(body, i)
        i.spec
    }

    static Map<String, Closure> post(Closure body) {
        PostSection p = new PostSection()
        delegateTo(body, p)
        p.blocks
    }

    static List<Map> stages(Closure body) {
        StagesSection s = new StagesSection()
        delegateTo(body, s)
        s.stages
    }
}

/** pipeline { ... } */
class PipelineSection {
    final Map spec = [:]

    String getNone() {
        'none'
    }

    void agent(Object a) {
        spec.agent = a
    }

    void options(Closure c) {
        spec.options = c
    }

    void environment(Closure c) {
        spec.environment = c
    }

    void stages(Closure c) {
        spec.stages = Builders.stages(c)
    }

    void post(Closure c) {
        spec.post = c
    }
}

/** stages { stage('x') { ... } } */
class StagesSection {
    final List<Map> stages = []

    void stage(String name, Closure body) {
        StageSection s = new StageSection(name)
        Builders.delegateTo(body, s)
        stages << s.spec
    }
}

/** stage('x') { ... } */
class StageSection {
    final Map spec

    StageSection(String name) {
        spec = [name: name]
    }

    String getNone() {
        'none'
    }

    void agent(Object a) {
        spec.agent = a
    }

    void when(Closure c) {
        spec.when = c
    }

    void input(Closure c) {
        spec.input = c
    }

    void options(Closure c) {
        spec.options = c
    }

    void environment(Closure c) {
        spec.environment = c
    }

    void steps(Closure c) {
        spec.steps = c
    }

    void stages(Closure c) {
        spec.stages = Builders.stages(c)
    }

    void post(Closure ignored) {
        throw new UnsupportedOperationException("stub: stage-level post (stage ${spec.name}) is not modelled")
    }

    void parallel(Closure ignored) {
        throw new UnsupportedOperationException("stub: parallel (stage ${spec.name}) is not modelled")
    }
}

/** agent { kubernetes { ... } } */
class AgentSection {
    final Map spec = [:]

    void kubernetes(Closure c) {
        spec.type = 'kubernetes'
        Builders.delegateTo(c, this)
    }

    void yaml(String text) {
        spec.yaml = text
    }

    void defaultContainer(String name) {
        spec.defaultContainer = name
    }

    void label(String name) {
        throw new UnsupportedOperationException("stub: agent label ${name} is not modelled")
    }
}

/** options { ... }: recorded as [name, args]. */
class OptionsSection {
    public static final List<String> KNOWN = ['timeout', 'timestamps', 'buildDiscarder', 'disableConcurrentBuilds',
                                       'skipDefaultCheckout', 'durabilityHint', 'retry']
    final List<Map> options = []

    Map logRotator(Map args) {
        [logRotator: args]
    }

    def methodMissing(String name, Object args) {
        if (!(name in KNOWN)) {
            throw new UnsupportedOperationException("stub: option ${name} is not modelled")
        }
        options << [name: name, args: (args as List)]
        null
    }
}

/** environment { NAME = value } */
class EnvironmentSection extends GroovyObjectSupport {
    final Map<String, Object> values = [:]

    @Override
    void setProperty(String name, Object value) {
        values[name] = value?.toString()
    }

    @Override
    Object getProperty(String name) {
        if (name == 'values') {
            return values
        }
        throw new MissingPropertyException(name, EnvironmentSection)
    }
}

/** when { ... }: top-level conditions are all required. */
class WhenSection {
    boolean beforeAgent
    boolean beforeInput
    boolean beforeOptions
    final List<Closure> conditions = []

    void beforeAgent(boolean b) {
        beforeAgent = b
    }

    void beforeInput(boolean b) {
        beforeInput = b
    }

    void beforeOptions(boolean b) {
        beforeOptions = b
    }

    void expression(Closure c) {
        conditions << c
    }

    // branch, buildingTag, anyOf ... are not modelled: the Jenkinsfile uses
    // expression { isReleaseBuild() }, and any other condition fails the stub loudly.
}

/** input { message ...; ok ...; submitter ... } */
class InputSection {
    final Map spec = [:]

    void message(String m) {
        spec.message = m
    }

    void ok(String o) {
        spec.ok = o
    }

    void submitter(String s) {
        spec.submitter = s
    }

    void id(String i) {
        spec.id = i
    }
}

/** post { always { } failure { } ... } */
class PostSection {
    final Map<String, Closure> blocks = [:]

    def methodMissing(String name, Object args) {
        if (!(name in DeclarativeStub.POST_ORDER)) {
            throw new UnsupportedOperationException("stub: post condition ${name} is not modelled")
        }
        blocks[name] = (args as List)[0] as Closure
        null
    }
}
