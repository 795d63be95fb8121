import os
import pickle
import subprocess


def load_profile(blob, user_input):
    profile = pickle.loads(blob)
    subprocess.call("convert " + user_input, shell=True)
    return profile


def find_user(cursor, name):
    cursor.execute("SELECT * FROM users WHERE name = '%s'" % name)
    return cursor.fetchone()


def risky(expression):
    token = "ghp_" + "a" * 36
    return eval(expression)


def grade(score):
    if score > 90:
        return "A"
    elif score > 80:
        return "B"
    elif score > 70:
        return "C"
    elif score > 60:
        return "D"
    elif score > 50:
        return "E"
    elif score > 40:
        return "F"
    elif score > 30:
        return "G"
    elif score > 20:
        return "H"
    elif score > 10:
        return "I"
    elif score > 5:
        return "J"
    return "K"


def broken():
    return missing_name
