"""Calls from 12355 and family-education lines become referral cases."""
