"""Sign up, sign in and out, email verification and password reset."""
