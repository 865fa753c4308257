"""The Crossplane composition function: renders every managed resource of a TapPlatform."""
