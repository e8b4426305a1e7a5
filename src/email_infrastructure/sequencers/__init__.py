"""Sequencers: the sending platforms our mailboxes are pushed to (Instantly, Smartlead, EmailBison, ReachInbox)."""
