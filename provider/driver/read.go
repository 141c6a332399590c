package driver

import "context"

// ReadScope limits a read to what a Spec manages: the one route the Spec
// attaches to, and only the parts of it the Spec manages.
type ReadScope struct {
	// Route is the one route to read (the Spec's route).
	Route string
	// Triggers reads the triggers updraft owns on Route: the Spec's
	// Triggers are non-nil.
	Triggers bool
	// Provisioned reads provisioned concurrency on Route: the Spec's
	// Concurrency.Provisioned is non-nil.
	Provisioned bool
}

// ScopedGetter is implemented by a driver that can read less than Get
// does. GetScoped reads the function's configuration and what s names,
// and may leave out everything else: other routes, triggers when
// s.Triggers is false, provisioned concurrency when s.Provisioned is
// false. s nil is Get. A driver without it is read with Get, which reads
// everything; both are correct, GetScoped is cheaper. NotFound if the
// function does not exist; a missing route is absent from State.Routes.
type ScopedGetter interface {
	GetScoped(ctx context.Context, s *ReadScope) (*State, error)
}

// LiveRevisioner is implemented by a driver that can tell, without a
// call, which published revision holds exactly the function's live code
// and configuration, from what its last read saw. A deploy that changes
// nothing then needs no revision listing to know that the route already
// serves the spec.
type LiveRevisioner interface {
	// LiveRevision returns the revision that route serves alone when the
	// driver knows it holds the live configuration of the State whose
	// ETag is etag (the handle's last read); "" when it does not know
	// without a call. No I/O.
	LiveRevision(etag, route string) string
}
