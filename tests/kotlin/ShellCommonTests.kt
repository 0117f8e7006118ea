// mobile-shell common pieces over the real library.
package cn.shian.tests

import cn.shian.core.validateNonempty
import cn.shian.shell.common.Json
import cn.shian.shell.common.UserError
import cn.shian.shell.common.UserErrorException
import cn.shian.shell.common.attempt

object ShellCommonTests : Suite("shell.common") {
    init {
        test("typed_core_error_becomes_a_field_error") {
            val result = attempt { validateNonempty("quantity.value", "") }
            val error = (result.exceptionOrNull() as? UserErrorException)?.error
                ?: fail("expected a UserErrorException, got $result")
            expectEquals(UserError.Kind.VALIDATION, error.kind, "kind")
            expectEquals("required", error.code, "code")
            expectEquals("quantity.value", error.field, "field")
            expectTrue(!error.retryable, "validation errors are not retryable")
        }

        test("json_round_trips") {
            val text = """{"a":[1,2.5,"x\"y",true,null],"b":{"c":"中文\n"},"d":-3}"""
            val v = Json.obj(text)
            expectEquals(listOf(1L, 2.5, "x\"y", true, null), v["a"], "array")
            expectEquals("中文\n", (v["b"] as Map<*, *>)["c"], "nested")
            expectEquals(-3L, v["d"], "negative")
            expectEquals(v, Json.obj(Json.write(v)), "round trip")
            expectThrows<IllegalArgumentException> { Json.parse("{\"a\":}") }
        }

        test("success_passes_through") {
            expectTrue(attempt { validateNonempty("quantity.value", "12.5") }.isSuccess, "success")
        }
    }
}
