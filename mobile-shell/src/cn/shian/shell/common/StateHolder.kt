// The base of every view model: one immutable state value, replaced whole on
// each change, and observers told after each change. View models are plain
// Kotlin: their actions block (they call the core), so an app calls them from a
// background thread and renders `state` on the main thread.
package cn.shian.shell.common

import java.util.concurrent.CopyOnWriteArrayList

abstract class StateHolder<S>(initial: S) {
    @Volatile
    var state: S = initial
        private set

    private val observers = CopyOnWriteArrayList<(S) -> Unit>()

    /** Calls [observer] now and after every change; close the handle to stop. */
    fun observe(observer: (S) -> Unit): AutoCloseable {
        observers += observer
        observer(state)
        return AutoCloseable { observers -= observer }
    }

    protected fun update(change: (S) -> S) {
        val next = synchronized(this) { change(state).also { state = it } }
        for (o in observers) o(next)
    }
}
