package order

// The in-package test helpers, for fuzz_test.go in package order_test.
var (
	ValidOrder  = validOrder
	MustEncode  = mustEncode
	EqualOrders = equalOrders
)

// SameAsReference is for the encoder's fuzz target in package order_test.
var SameAsReference = sameAsReference
