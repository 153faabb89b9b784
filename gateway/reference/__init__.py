"""Reference data read from files: the working-day calendar and the applicants' texts."""
