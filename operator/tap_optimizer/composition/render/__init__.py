"""Pure renderers: one function per AWS component, parameters in, composed resources out."""
