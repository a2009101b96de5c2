"""Multi-agency cases: state, agencies and workers, assessments and the chronology."""
