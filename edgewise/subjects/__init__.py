"""Subjects: the models edgewise deploys, with their data, metric and preprocessing."""

from edgewise.subjects.base import SUBJECTS, Subject, SubjectContext, get_subject, score

__all__ = ["SUBJECTS", "Subject", "SubjectContext", "get_subject", "score"]
