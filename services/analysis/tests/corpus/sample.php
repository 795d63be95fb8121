<?php
$password = "hunter2hunter2";

function search($conn, $term) {
    $result = mysqli_query($conn, "SELECT * FROM posts WHERE title = '" . $term . "'");
    $out = shell_exec("grep " . $term . " /var/log/app.log");
    eval($term);
    return $result;
}
