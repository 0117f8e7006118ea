// A tiny test runner for the JVM binding and mobile-shell tests (no JUnit: the
// classpath is just app.jar + jna.jar).
//
// A test suite is a Kotlin `object` in package cn.shian.tests that extends Suite;
// the runner finds every such object in the jar, so adding a suite is adding a file.
// Arguments, if any, are substrings: only tests whose "suite.name" contains one run.
@file:JvmName("TestMain")

package cn.shian.tests

import java.io.File
import java.util.jar.JarFile
import kotlin.system.exitProcess

class TestFailure(message: String) : AssertionError(message)

abstract class Suite(val suiteName: String) {
    internal val cases = mutableListOf<Pair<String, () -> Unit>>()

    /** Registers a test; call it from the suite's `init` block. */
    protected fun test(name: String, body: () -> Unit) {
        cases += name to body
    }
}

fun fail(message: String): Nothing = throw TestFailure(message)

fun <T> expectEquals(expected: T, actual: T, what: String = "value") {
    if (expected != actual) fail("$what: expected <$expected>, got <$actual>")
}

fun expectTrue(condition: Boolean, what: String) {
    if (!condition) fail("expected: $what")
}

/** Runs [body], which must throw a [T]; returns it for further checks. */
inline fun <reified T : Throwable> expectThrows(body: () -> Unit): T {
    try {
        body()
    } catch (e: Throwable) {
        if (e is T) return e
        fail("expected ${T::class.java.name}, got ${e::class.java.name}: ${e.message}")
    }
    fail("expected ${T::class.java.name}, nothing was thrown")
}

fun env(name: String): String = System.getenv(name) ?: fail("environment variable $name is not set")

/** Every `object` extending Suite in this package, found in the jar (or class folder) we run from. */
private fun discoverSuites(): List<Suite> {
    val location = File(Suite::class.java.protectionDomain.codeSource.location.toURI())
    val prefix = "cn/shian/tests/"
    val classNames = if (location.isFile) {
        JarFile(location).use { jar -> jar.entries().toList().map { it.name } }
    } else {
        location.walkTopDown().filter { it.isFile }.map { it.relativeTo(location).invariantSeparatorsPath }.toList()
    }.filter { it.startsWith(prefix) && it.endsWith(".class") && !it.contains('$') }
        .map { it.removeSuffix(".class").replace('/', '.') }
    val loader = Suite::class.java.classLoader
    return classNames.sorted().mapNotNull { name ->
        val cls = Class.forName(name, false, loader)
        if (!Suite::class.java.isAssignableFrom(cls) || cls == Suite::class.java) return@mapNotNull null
        val instance = runCatching { cls.getField("INSTANCE").get(null) }.getOrNull()
        instance as? Suite ?: fail("$name extends Suite but is not an object")
    }
}

fun main(args: Array<String>) {
    var passed = 0
    var failed = 0
    for (suite in discoverSuites()) {
        for ((name, body) in suite.cases) {
            val full = "${suite.suiteName}.$name"
            if (args.isNotEmpty() && args.none { full.contains(it) }) continue
            val start = System.nanoTime()
            try {
                body()
                passed++
                println("PASS $full (${(System.nanoTime() - start) / 1_000_000} ms)")
            } catch (e: Throwable) {
                failed++
                println("FAIL $full: ${e::class.java.simpleName}: ${e.message}")
                if (e !is TestFailure) e.printStackTrace(System.out)
            }
        }
    }
    println("$passed passed, $failed failed")
    if (failed > 0 || passed == 0) exitProcess(1)
}
