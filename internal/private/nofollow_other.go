//go:build !unix

package private

// noFollow is not available here; opens follow symbolic links.
const noFollow = 0
