// Binding smoke tests: the generated cn.shian.core over the real libshian_ffi via JNA.
package cn.shian.tests

import cn.shian.core.ShianException
import cn.shian.core.coreVersion
import cn.shian.core.newId
import cn.shian.core.validateNonempty
import cn.shian.core.validateUscc
import cn.shian.core.verifyCode

object CoreBindingTests : Suite("core") {
    init {
        test("core_version_is_the_workspace_version") {
            expectEquals(env("SHIAN_EXPECTED_VERSION"), coreVersion(), "coreVersion()")
        }

        test("nonblank_value_passes") {
            validateNonempty("product.name", "鲜猪肉")
        }

        test("blank_value_throws_typed_validation_with_field") {
            val e = expectThrows<ShianException.Validation> { validateNonempty("product.name", " \t") }
            expectEquals("required", e.code, "code")
            expectEquals("product.name", e.field, "field")
            // `message` is `detail` in Kotlin (Throwable.message clash, see bindings/uniffi.toml).
            expectTrue(e.detail.contains("product.name"), "detail names the field: ${e.detail}")
        }

        test("errors_are_one_sealed_hierarchy") {
            val e: ShianException = expectThrows<ShianException> { validateNonempty("buyer.name", "") }
            val kind = when (e) {
                is ShianException.Validation -> "validation"
                is ShianException.Auth -> "auth"
                is ShianException.Forbidden -> "forbidden"
                is ShianException.Network -> "network"
                is ShianException.Conflict -> "conflict"
                is ShianException.Storage -> "storage"
                is ShianException.NotFound -> "not_found"
            }
            expectEquals("validation", kind, "variant")
        }

        test("codes_are_verified_offline") {
            val id = newId()
            expectEquals(36, id.length, "uuid length")
            expectEquals('7', id[14], "UUID version 7")
            val e = expectThrows<ShianException.Validation> { verifyCode("0123456789ABCDEF") }
            expectEquals("code", e.field, "field")
            expectTrue(e.code == "code_check_mismatch" || e.code == "invalid_code", "check code: ${e.code}")
            expectEquals("invalid_code", expectThrows<ShianException.Validation> { verifyCode("short") }.code, "short code")
            expectEquals("91310110666007217T", validateUscc("９１３１０１１０６６６００７２１７ｔ", false), "full width folded")
            expectEquals("uscc_check_mismatch", expectThrows<ShianException.Validation> { validateUscc("91310110666007217A", false) }.code, "uscc")
        }
    }
}
