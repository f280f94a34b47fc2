package pgfront

import "runtime"

func runtimeNumGoroutine() int { return runtime.NumGoroutine() }
