"""GitOps write-back: the values a plan applied (or the live TapPlatform holds), written into the
TapPlatform manifest in git, so that git declares what runs and a re-sync changes nothing."""
