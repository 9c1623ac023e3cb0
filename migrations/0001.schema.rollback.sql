DROP TABLE chat_completion_requests;
DROP TABLE models;
DROP TABLE providers;
