"""Item calibration: statistics across assessments, Rasch difficulties, pretest items and quarantine."""
