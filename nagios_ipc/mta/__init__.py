"""check_mta_backlog: mail queue backlog of Postfix, Exim, Sendmail, qmail,
OpenSMTPD, nullmailer and the Sun/Oracle Messaging Server."""
