'''The course report's functions exactly as printed in its figures 1-6 (only the PDF's typesetting undone).

Its ``average_ce`` writes into ``prediction`` and its ``backpropagation`` writes into ``o``; the grader
must catch both and confirm that the gradients themselves are right.
'''

REPORT_SOURCE = '''import numpy as np


def relu(x):
    return np.maximum(x, 0)


def softmax(x):
    x = x - x.max(axis = 1, keepdims = True) #prevents overflow
    return np.exp(x)/(np.exp(x).sum(axis = 1, keepdims = True))


def compute_layer(x, w, b):
    return np.matmul(x, w) + b


def average_ce(target, prediction):
    prediction[prediction == 0] = 0.00000000000001 #prevents divide by zero
    return -np.sum(np.multiply(target, np.log(prediction))) / target.shape[0]


def grad_ce(target, logits):
    return (softmax(logits) - target) #prediction - target


def backpropagation(prediction, target, o, wh, wo, x, b):
    dwo = np.matmul(np.transpose(relu(o)), (prediction - target)/target.shape[0]) #average
    ones = np.ones((1, target.shape[0])) #initialize ones
    dbo = np.matmul(ones, (prediction - target)/target.shape[0]) #average
    o[o >= 0] = 1
    o[o < 0] = 0
    dwh = np.matmul(np.transpose(x), o * np.matmul((prediction - target)/target.shape[0], np.transpose(wo))) #average
    dbh = np.matmul(ones, o * np.matmul((prediction - target)/target.shape[0], np.transpose(wo))) #average
    return dwo, dbo, dwh, dbh
'''

REPORT_FILENAME = "course_report.py"
