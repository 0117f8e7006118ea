// mobile-shell common pieces over the real library.
package cn.shian.tests

import cn.shian.core.validateNonempty
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

        test("success_passes_through") {
            expectTrue(attempt { validateNonempty("quantity.value", "12.5") }.isSuccess, "success")
        }
    }
}
