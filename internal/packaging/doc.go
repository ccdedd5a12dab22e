// Package packaging holds no code: its tests check, without a container
// engine or GoReleaser, that the repository's packaging works. They parse
// the Dockerfile, .dockerignore, .goreleaser.yaml and action.yml and check
// every path, package, flag, linker target and input they name. With
// -packaging.slow (CI sets it) they also build the release targets with
// GOOS/GOARCH go build, run the binaries the Dockerfile builds, run the
// Action's script against relaysim, and run the README's flows on a
// machine where port 8765 is taken.
package packaging
