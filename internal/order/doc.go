// Package order is the order contract every orderpipe component agrees on.
package order
