"""My learning, the lesson player, progress and quizzes."""
