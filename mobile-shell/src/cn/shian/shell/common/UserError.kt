// What a screen shows when a core call fails: one mapping from the binding's typed
// errors, shared by every view model.
package cn.shian.shell.common

import cn.shian.core.ShianException

/** A failed call as a screen sees it. */
data class UserError(
    val kind: Kind,
    /** Machine-readable code (the HTTP API's snake_case codes), if any. */
    val code: String?,
    /** The input to highlight (e.g. "quantity.value"), for validation errors. */
    val field: String?,
    /** Text for the user. */
    val text: String,
) {
    enum class Kind { VALIDATION, AUTH, FORBIDDEN, NETWORK, CONFLICT, STORAGE, NOT_FOUND }

    /** Whether the same action may succeed later without the user changing anything. */
    val retryable: Boolean get() = kind == Kind.NETWORK

    companion object {
        fun validation(field: String, code: String, text: String) = UserError(Kind.VALIDATION, code, field, text)
        fun network(text: String) = UserError(Kind.NETWORK, null, null, text)
    }
}

fun ShianException.toUserError(): UserError = when (this) {
    is ShianException.Validation -> UserError(UserError.Kind.VALIDATION, code, field, detail)
    is ShianException.Auth -> UserError(UserError.Kind.AUTH, null, null, detail)
    is ShianException.Forbidden -> UserError(UserError.Kind.FORBIDDEN, code, null, detail)
    is ShianException.Network -> UserError(UserError.Kind.NETWORK, null, null, detail)
    is ShianException.Conflict -> UserError(UserError.Kind.CONFLICT, code, null, detail)
    is ShianException.Storage -> UserError(UserError.Kind.STORAGE, null, null, detail)
    is ShianException.NotFound -> UserError(UserError.Kind.NOT_FOUND, code, null, detail)
}

/** Runs a core call; a typed Shian error becomes a [UserError], anything else propagates. */
inline fun <T> attempt(call: () -> T): Result<T> = try {
    Result.success(call())
} catch (e: ShianException) {
    Result.failure(UserErrorException(e.toUserError(), e))
}

class UserErrorException(val error: UserError, cause: Throwable?) : Exception(error.text, cause)

/** The [UserError] of a failed [attempt], if that is what failed. */
val Result<*>.userError: UserError? get() = (exceptionOrNull() as? UserErrorException)?.error
