package org.jenkinsci.plugins.workflow.libs

import java.lang.annotation.Retention
import java.lang.annotation.RetentionPolicy

/** Stand-in for the workflow-cps-global-lib annotation so a Jenkinsfile compiles outside Jenkins. */
@Retention(RetentionPolicy.SOURCE)
@interface Library {
    String[] value()
}
